/**
 * The image types darkroom knows. Only raster formats: SVG is deliberately absent because it can
 * carry script (stored XSS when served from a shared origin).
 */

/** A known image type: its canonical MIME type and the extensions that name it. */
export interface ImageType {
  readonly contentType: string;
  readonly extensions: readonly string[];
}

export const imageTypes: readonly ImageType[] = Object.freeze([
  { contentType: 'image/jpeg', extensions: ['jpg', 'jpeg'] },
  { contentType: 'image/png', extensions: ['png'] },
  { contentType: 'image/gif', extensions: ['gif'] },
  { contentType: 'image/webp', extensions: ['webp'] },
  { contentType: 'image/avif', extensions: ['avif'] },
]);

const byExtension = new Map<string, ImageType>(
  imageTypes.flatMap((type) => type.extensions.map((ext) => [ext, type] as const)),
);

/** Every extension darkroom knows, lower-case, without the dot. */
export const knownExtensions: readonly string[] = Object.freeze([...byExtension.keys()]);

/** The image type for a lower-case extension (no dot), or undefined when darkroom does not know it. */
export function imageTypeForExtension(extension: string): ImageType | undefined {
  return byExtension.get(extension);
}

/** True when `contentType` (parameters such as `; charset` ignored, case-insensitive) names `type`. */
export function contentTypeMatches(contentType: string, type: ImageType): boolean {
  const essence = contentType.split(';', 1)[0]?.trim().toLowerCase() ?? '';
  // image/jpg is a common misspelling that browsers and SDKs still send.
  return essence === type.contentType || (type.contentType === 'image/jpeg' && essence === 'image/jpg');
}
