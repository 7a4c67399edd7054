/**
 * inkwell's library entry: `import { torch, ssl, data, models } from 'inkwell'`.
 */
export * as torch from './torch/index.js';
export * as ssl from './ssl/index.js';
export * as data from './data/index.js';
export * as eval from './eval/index.js';
export * as infer from './infer/index.js';
export * as report from './report/index.js';
export * as supervised from './supervised/index.js';
export * as models from './models/index.js';
export * as study from './study/index.js';
