export { Module, describeLoad, type LoadResult, type StateDictSource } from './module.js';
export * from './layers.js';
export * as init from './init.js';
export * as utils from './utils.js';
export { SyncBatchNorm, convertSyncBatchNorm } from './sync-batchnorm.js';
