import { computeLetterbox, letterboxBox, letterboxToChw, lround, normalizeToChw, unletterboxBox } from './letterbox';

describe('letterbox (same rule as the native core and Ultralytics)', () => {
  it('rounds halves away from zero like C lround', () => {
    expect([lround(2.5), lround(-2.5), lround(2.4), lround(-0.5)]).toEqual([3, -3, 2, -1]);
  });

  it.each([
    // src w, h -> dst: expected r, newW, newH, left, top
    [640, 480, 640, 640, 1, 640, 480, 0, 80],
    [200, 120, 64, 64, 0.32, 64, 38, 0, 13],
    [97, 233, 64, 64, 64 / 233, 27, 64, 18, 0],
    [1920, 1080, 640, 640, 1 / 3, 640, 360, 0, 140],
    [64, 64, 64, 64, 1, 64, 64, 0, 0],
  ])('%ix%i -> %ix%i', (w, h, dw, dh, r, nw, nh, left, top) => {
    const lb = computeLetterbox(w, h, dw, dh);
    expect(lb.r).toBeCloseTo(r, 6);
    expect([lb.newW, lb.newH, lb.left, lb.top]).toEqual([nw, nh, left, top]);
  });

  it('maps boxes into the network input and back to the original image, clamped', () => {
    const lb = computeLetterbox(200, 120, 64, 64);
    const box: [number, number, number, number] = [10, 20, 150, 100];
    const back = unletterboxBox(lb, letterboxBox(lb, box));
    back.forEach((v, i) => expect(v).toBeCloseTo(box[i], 4));
    expect(unletterboxBox(lb, [-5, 0, 70, 70])).toEqual([0, 0, 200, 120]);
  });

  it('writes pixels centred in CHW with 114 padding, scaled to [0, 1]', () => {
    const lb = computeLetterbox(4, 2, 4, 4); // r=1, top=1
    const rgb = new Uint8Array(4 * 2 * 3).map((_, i) => i * 10);
    const out = letterboxToChw(rgb, lb, new Float32Array(3 * 16));
    expect(out[0]).toBeCloseTo(114 / 255, 6); // padding row 0
    // pixel (x=0, y=0) of the image lands on row 1: R=0, G=10, B=20
    expect(out[4]).toBeCloseTo(0, 6);
    expect(out[16 + 4]).toBeCloseTo(10 / 255, 6);
    expect(out[32 + 4]).toBeCloseTo(20 / 255, 6);
    expect(out[15]).toBeCloseTo(114 / 255, 6); // padding row 3
    expect(() => letterboxToChw(rgb, lb, new Float32Array(3))).toThrow(RangeError);
  });

  it('normalises with ImageNet mean/std, or unit scale', () => {
    const rgb = new Uint8Array([255, 0, 128]);
    const im = normalizeToChw(rgb, 1, 1);
    expect(im[0]).toBeCloseTo((1 - 0.485) / 0.229, 5);
    expect(im[1]).toBeCloseTo((0 - 0.456) / 0.224, 5);
    const unit = normalizeToChw(rgb, 1, 1, [0, 0, 0], [1, 1, 1]);
    expect([...unit].map((v) => Math.round(v * 255))).toEqual([255, 0, 128]);
  });
});
