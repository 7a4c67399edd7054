/** Evaluation: ink-map scores (Kaggle F0.5, AUC, best threshold), CKA between representations, heatmaps. */
export * from './metrics.js';
export * from './png.js';
export * from './cka.js';
export * from './heatmap.js';
export * from './cka-checkpoints.js';
