// Evidence photos on the phone: read capture time and GPS from the camera's
// EXIF first (the canvas drops all metadata), then downscale to at most
// 1600 px on the long side as JPEG quality 0.8, so a 12-megapixel shot stores
// and syncs in a few hundred kilobytes.

export const MAX_SIDE = 1600;
export const QUALITY = 0.8;

const TAG_EXIF_IFD = 0x8769;
const TAG_GPS_IFD = 0x8825;
const TAG_DATETIME_ORIGINAL = 0x9003;
const TAG_OFFSET_TIME_ORIGINAL = 0x9011;

function readIfd(view, tiff, offset, little) {
  const entries = new Map();
  const count = view.getUint16(tiff + offset, little);
  for (let i = 0; i < count; i += 1) {
    const at = tiff + offset + 2 + i * 12;
    entries.set(view.getUint16(at, little), {
      type: view.getUint16(at + 2, little),
      count: view.getUint32(at + 4, little),
      at: at + 8,
    });
  }
  return entries;
}

function valueOffset(view, tiff, entry, size, little) {
  return size * entry.count > 4 ? tiff + view.getUint32(entry.at, little) : entry.at;
}

function readAscii(view, tiff, entry, little) {
  if (!entry) return null;
  const start = valueOffset(view, tiff, entry, 1, little);
  let text = '';
  for (let i = 0; i < entry.count; i += 1) {
    const c = view.getUint8(start + i);
    if (c === 0) break;
    text += String.fromCharCode(c);
  }
  return text;
}

function readRationals(view, tiff, entry, little) {
  if (!entry) return null;
  const start = valueOffset(view, tiff, entry, 8, little);
  const out = [];
  for (let i = 0; i < entry.count; i += 1) {
    const num = view.getUint32(start + i * 8, little);
    const den = view.getUint32(start + i * 8 + 4, little);
    out.push(den ? num / den : 0);
  }
  return out;
}

function exifTime(text, offset) {
  const m = /^(\d{4}):(\d\d):(\d\d) (\d\d):(\d\d):(\d\d)/.exec(text || '');
  if (!m) return null;
  const base = `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}`;
  if (offset && /^[+-]\d\d:\d\d$/.test(offset)) return base + offset;
  // EXIF without an offset is the camera's local time, which is the phone's.
  const d = new Date(base);
  const off = -d.getTimezoneOffset();
  const pad = (n) => String(Math.trunc(Math.abs(n))).padStart(2, '0');
  return `${base}${off >= 0 ? '+' : '-'}${pad(off / 60)}:${pad(off % 60)}`;
}

function gpsFrom(view, tiff, gps, little) {
  const lat = readRationals(view, tiff, gps.get(2), little);
  const lon = readRationals(view, tiff, gps.get(4), little);
  if (!lat || !lon || lat.length < 3 || lon.length < 3) return null;
  const deg = (v) => v[0] + v[1] / 60 + v[2] / 3600;
  const latRef = readAscii(view, tiff, gps.get(1), little);
  const lonRef = readAscii(view, tiff, gps.get(3), little);
  return {
    lat: latRef === 'S' ? -deg(lat) : deg(lat),
    lon: lonRef === 'W' ? -deg(lon) : deg(lon),
    accuracy: null,
  };
}

// {takenAt, gps} from a JPEG's EXIF, nulls when absent or unreadable.
export function readExif(buffer) {
  const none = { takenAt: null, gps: null };
  const view = new DataView(buffer);
  if (view.byteLength < 4 || view.getUint16(0) !== 0xffd8) return none;
  let pos = 2;
  while (pos + 4 <= view.byteLength) {
    const marker = view.getUint16(pos);
    const size = view.getUint16(pos + 2);
    if (marker === 0xffe1 && view.getUint32(pos + 4) === 0x45786966) {
      try {
        return parseTiff(view, pos + 10);
      } catch {
        return none;
      }
    }
    if ((marker & 0xff00) !== 0xff00 || marker === 0xffda) break;
    pos += 2 + size;
  }
  return none;
}

function parseTiff(view, tiff) {
  const little = view.getUint16(tiff) === 0x4949;
  const ifd0 = readIfd(view, tiff, view.getUint32(tiff + 4, little), little);
  let takenAt = null;
  let gps = null;
  const exifPtr = ifd0.get(TAG_EXIF_IFD);
  if (exifPtr) {
    const exif = readIfd(view, tiff, view.getUint32(exifPtr.at, little), little);
    takenAt = exifTime(
      readAscii(view, tiff, exif.get(TAG_DATETIME_ORIGINAL), little),
      readAscii(view, tiff, exif.get(TAG_OFFSET_TIME_ORIGINAL), little),
    );
  }
  const gpsPtr = ifd0.get(TAG_GPS_IFD);
  if (gpsPtr) {
    gps = gpsFrom(view, tiff, readIfd(view, tiff, view.getUint32(gpsPtr.at, little), little), little);
  }
  return { takenAt, gps };
}

export function scaledSize(width, height, maxSide = MAX_SIDE) {
  const scale = Math.min(1, maxSide / Math.max(width, height));
  return { width: Math.round(width * scale), height: Math.round(height * scale) };
}

// The stored JPEG: orientation applied, at most MAX_SIDE, no metadata.
export async function downscale(file) {
  const bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
  const { width, height } = scaledSize(bitmap.width, bitmap.height);
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d');
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(bitmap, 0, 0, width, height);
  bitmap.close();
  return canvas.convertToBlob({ type: 'image/jpeg', quality: QUALITY });
}

// Everything the photo field needs from one camera file.
export async function preparePhoto(file) {
  const head = await file.slice(0, 256 * 1024).arrayBuffer();
  const { takenAt, gps } = readExif(head);
  const blob = await downscale(file);
  return { blob, takenAt, gps };
}
