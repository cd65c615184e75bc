#!/usr/bin/env node
// Installed command `mesos`: loads the TypeScript entry point through tsx.
import { register } from 'tsx/esm/api';

register();
await import('../mesos.ts');
