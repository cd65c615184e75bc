#!/usr/bin/env node
// Installed command `mesos-pi`: loads the TypeScript entry point through tsx.
import { register } from 'tsx/esm/api';

register();
await import('../mesos-pi.ts');
