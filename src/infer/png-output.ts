/** The PNG files inference writes: probability maps (8- or 16-bit grey) and 0/255 masks. */
import sharp from 'sharp';

/** Probabilities in [0, 1] as an 8-bit (x255) or 16-bit (x65535) grey PNG. */
export async function encodeProbabilityPng(
  probs: Float32Array,
  width: number,
  height: number,
  bits: 8 | 16 = 8,
): Promise<Buffer> {
  if (probs.length !== width * height)
    throw new Error(
      `encodeProbabilityPng: ${probs.length} values, expected ${height}x${width} (HxW) = ${width * height}`,
    );
  if (bits !== 8 && bits !== 16) throw new Error(`encodeProbabilityPng: bits must be 8 or 16, got ${String(bits)}`);
  const max = bits === 16 ? 65535 : 255;
  const q = bits === 16 ? new Uint16Array(probs.length) : new Uint8Array(probs.length);
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i]!;
    q[i] = p > 0 ? (p < 1 ? Math.round(p * max) : max) : 0;
  }
  // sharp takes the sample depth from the typed array (a Uint16Array gives 16-bit samples).
  const img = sharp(q, { raw: { width, height, channels: 1 } });
  return (bits === 16 ? img.toColourspace('grey16') : img.toColourspace('b-w')).png().toBuffer();
}

/** A {0,1} mask as an 8-bit 0/255 grey PNG. */
export async function encodeMaskPng(mask: Uint8Array, width: number, height: number): Promise<Buffer> {
  if (mask.length !== width * height)
    throw new Error(`encodeMaskPng: ${mask.length} values, expected ${height}x${width} (HxW) = ${width * height}`);
  const px = new Uint8Array(mask.length);
  for (let i = 0; i < px.length; i++) px[i] = mask[i] !== 0 ? 255 : 0;
  return sharp(px, { raw: { width, height, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toBuffer();
}
