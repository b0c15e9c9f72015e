/**
 * The try-it page's markup: static, with no server data in it (the script fetches the app list),
 * so nothing here is ever built from input. Labels, an `aria-live` status and an alert region
 * make each step and each refusal readable with a screen reader; the picker is the native file
 * input, so it works from the keyboard.
 */
export const demoPageHtml = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>darkroom: try an upload</title>
<link rel="icon" href="/demo-page/icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/demo-page/style.css">
<script src="/demo-page/app.js" defer></script>
</head>
<body>
<main>
  <header>
    <h1>darkroom: try an upload</h1>
    <p>Pick an image. This page asks darkroom for a presigned URL, sends the file
    <strong>straight to storage</strong> with it, then shows the image from its public URL.</p>
  </header>

  <form id="upload-form" novalidate>
    <div class="field">
      <label for="app">App</label>
      <select id="app" name="app" aria-describedby="app-policy"></select>
      <p id="app-policy" class="hint">Loading the apps…</p>
    </div>

    <div id="drop-zone" class="drop-zone">
      <label for="file" class="drop-label">Choose an image, or drop one here</label>
      <input id="file" name="file" type="file" accept="image/jpeg,image/png,image/gif,image/webp,image/avif">
      <p class="hint">JPEG, PNG, GIF, WebP or AVIF, within the app's size limit.</p>
    </div>

    <div class="field checkbox">
      <input id="skip-checks" name="skip-checks" type="checkbox">
      <label for="skip-checks">Skip this page's own checks and let darkroom decide</label>
    </div>
  </form>

  <section aria-labelledby="progress-heading">
    <h2 id="progress-heading">Progress</h2>
    <progress id="progress" max="100" value="0" aria-labelledby="progress-heading"></progress>
    <p id="status" role="status" aria-live="polite">Nothing uploaded yet.</p>
    <div id="refusal" class="refusal" role="alert" hidden>
      <p class="refusal-title" id="refusal-title"></p>
      <p id="refusal-detail"></p>
      <p class="hint">Code: <code id="refusal-code"></code></p>
    </div>
  </section>

  <section id="result" aria-labelledby="result-heading" hidden>
    <h2 id="result-heading">Uploaded</h2>
    <p>Public URL: <a id="public-url" href="#"></a></p>
    <figure>
      <img id="image" alt="">
      <figcaption id="image-caption"></figcaption>
    </figure>
  </section>

  <section id="variants" aria-labelledby="variants-heading" hidden>
    <h2 id="variants-heading">Variants</h2>
    <p class="hint">The same public URL with <code>?w=</code> or <code>?preset=</code>: made once on
    the first request, stored beside the original, then read like it. The format follows what this
    browser accepts (AVIF, else WebP, else the original's).</p>
    <div id="variant-list" class="variant-list"></div>
  </section>

  <footer>
    <p>Owner id sent as <code>X-Owner-Id</code>: <code id="owner-id"></code>.
    This page makes up one per browser session; in production the authenticating gateway in front
    of darkroom sets this header from the signed-in user.</p>
  </footer>
</main>
</body>
</html>
`;

/** The page's icon (so the browser does not ask for a `/favicon.ico` darkroom does not have). */
export const demoPageIcon =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1b1f24"/>' +
  '<circle cx="8" cy="8" r="4" fill="#f2a900"/></svg>';
