#!/usr/bin/env -S node --
// "--": node itself looks for --env-file anywhere on its command line and exits 9 if that file is missing
import { main } from './main.js';

process.exitCode = await main(process.argv.slice(2));
