/** Sliding-window ink inference over whole fragments and segments: windows, stitching, writing the map. */
export * from './infer.js';
export * from './stitch.js';
export * from './tta.js';
export * from './png-output.js';
