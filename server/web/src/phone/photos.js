// Photos taken on the phone go up small: a 12-megapixel picture is scaled so that its
// longer side is at most LONG_SIDE pixels and saved as JPEG, at a lower quality if a
// very detailed picture would still be large — a few hundred KiB instead of several MiB,
// which matters on a poor connection.

/** The longer side of a photo as sent, in pixels. */
export const LONG_SIDE = 1600;
/** The JPEG qualities tried, best first, until the photo fits in TARGET_BYTES. */
const QUALITIES = [0.8, 0.65, 0.5];
/** What a photo should weigh at most once shrunk (most are well under it at the first quality). */
const TARGET_BYTES = 400 * 1024;

/** `file` (from `<input type=file capture>`) resized and re-encoded as a JPEG Blob. */
export async function shrink(file) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch {
    // Not a picture the browser can decode: send it as it is, the server checks it.
    return file;
  }
  const scale = Math.min(1, LONG_SIDE / Math.max(bitmap.width, bitmap.height));
  const width = Math.round(bitmap.width * scale);
  const height = Math.round(bitmap.height * scale);
  let canvas;
  if (typeof OffscreenCanvas === "function") {
    canvas = new OffscreenCanvas(width, height);
  } else {
    canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
  }
  canvas.getContext("2d").drawImage(bitmap, 0, 0, width, height);
  const encode = (quality) =>
    canvas.convertToBlob
      ? canvas.convertToBlob({ type: "image/jpeg", quality })
      : new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", quality));
  let blob = null;
  for (const quality of QUALITIES) {
    blob = await encode(quality);
    if (!blob || blob.size <= TARGET_BYTES) break;
  }
  bitmap.close?.();
  // A small picture may already be smaller than its re-encoding.
  return blob && blob.size < file.size ? blob : file;
}

/** The phone's position now, WGS-84 as the Geolocation API gives it; null when unknown. */
export function here(timeout = 8000) {
  return new Promise((resolve) => {
    if (!navigator.geolocation) return resolve(null);
    navigator.geolocation.getCurrentPosition(
      (p) => resolve({ lon: p.coords.longitude, lat: p.coords.latitude, crs: "wgs84", accuracy_m: p.coords.accuracy }),
      () => resolve(null),
      { enableHighAccuracy: true, timeout, maximumAge: 30000 },
    );
  });
}
