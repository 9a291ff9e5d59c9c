#!/usr/bin/env node
// The `ts-dask` command: loads TypeScript through tsx, then the CLI.
import { register } from "tsx/esm/api";
register();
await import("../cli/main.ts");
