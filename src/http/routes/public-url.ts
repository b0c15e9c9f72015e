/** The stable public URL of an image: the application's contract, not the bucket's or the CDN's. */
export function publicImageUrl(publicBaseURL: string, appName: string, key: string): string {
  return `${publicBaseURL}/darkroom/${encodeURIComponent(appName)}/v2/images/${encodeURIComponent(key)}`;
}
