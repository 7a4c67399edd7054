/** Supervised ink training on labelled fragments: the trainer, its config and presets, encoder comparisons. */
export * from './trainer.js';
export * from './config.js';
export * from './compare.js';
