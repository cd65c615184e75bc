#!/usr/bin/env node
// Installed command `mesos-master`: loads the TypeScript entry point through tsx.
import { register } from 'tsx/esm/api';

register();
await import('../mesos-master.ts');
