/** Reporting: the self-contained HTML report of a run, its SVG charts, and CKA heatmaps. */
export * from './report.js';
export * from './charts.js';
export * from './heatmap.js';
