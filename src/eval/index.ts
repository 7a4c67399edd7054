/** Evaluation: ink-map scores (Kaggle F0.5, AUC, best threshold) and CKA between representations. */
export * from './metrics.js';
export * from './score-images.js';
export * from './cka.js';
export * from './cka-checkpoints.js';
