/**
 * `darkroom/client`: upload an image to darkroom from a browser (or any runtime with `fetch`).
 *
 *     import { uploadImage } from 'darkroom/client';
 *     const { publicURL } = await uploadImage(file, { baseURL: 'https://img.example.com', app: 'shop', token });
 */
export { presignUpload, putToStorage, uploadImage } from './upload-image.js';
export type { UploadFile, UploadGrant, UploadImageOptions, UploadProgress, UploadResult } from './upload-image.js';
export { DarkroomUnavailableError, RateLimitedError, StorageUploadError, UploadAbortedError, UploadError, UploadRefusedError } from './errors.js';
export type { ClientErrorCode, DarkroomErrorCode, UploadErrorSource } from './errors.js';
