/** The study's instruments: cached frozen features, the linear probe, controls, bootstrap intervals, verdicts. */
export * from './columns.js';
export * from './comparison.js';
export * from './encoders.js';
export * from './linear-probe.js';
export * from './probe-study.js';
export * from './results.js';
export * from './scoring.js';
export * from './segmentation-scores.js';
export * from './segmentation-study.js';
