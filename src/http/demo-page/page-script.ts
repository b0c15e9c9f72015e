/**
 * The try-it page's script, served from darkroom's own origin (the page's CSP allows no inline
 * script). Plain ES2020 for any current browser, no framework, no build step.
 *
 * Rules it keeps: every piece of text from the server or the file reaches the DOM through
 * `textContent` (never as markup; the CSP's Trusted Types directive enforces it). The presign
 * request and the PUT go through darkroom's upload client (`src/client/`, loaded as a module from
 * `/demo-page/client/index.js`), which sends exactly the headers darkroom returned (the browser
 * adds `Content-Length`) over XMLHttpRequest for progress, and reports typed errors.
 *
 * Kept free of backticks and dollar-brace so it can live in a template literal.
 */
export const demoPageScript = String.raw`'use strict';
(function () {
  var knownTypes = {
    jpg: 'image/jpeg', jpeg: 'image/jpeg', png: 'image/png',
    gif: 'image/gif', webp: 'image/webp', avif: 'image/avif'
  };

  var el = function (id) { return document.getElementById(id); };
  var appSelect = el('app');
  var appPolicy = el('app-policy');
  var fileInput = el('file');
  var dropZone = el('drop-zone');
  var skipChecks = el('skip-checks');
  var progress = el('progress');
  var status = el('status');
  var refusal = el('refusal');
  var result = el('result');
  var publicLink = el('public-url');
  var image = el('image');
  var caption = el('image-caption');
  var variantsSection = el('variants');
  var variantList = el('variant-list');
  var apps = {};
  var current = null;

  var ownerId = sessionOwnerId();
  el('owner-id').textContent = ownerId;

  function sessionOwnerId() {
    var key = 'darkroom-demo-owner-id';
    try {
      var existing = sessionStorage.getItem(key);
      if (existing) return existing;
    } catch (e) { /* storage disabled: a fresh id per page load */ }
    var bytes = new Uint8Array(8);
    crypto.getRandomValues(bytes);
    var id = 'browser-' + Array.prototype.map.call(bytes, function (b) {
      return (b < 16 ? '0' : '') + b.toString(16);
    }).join('');
    try { sessionStorage.setItem(key, id); } catch (e) { /* as above */ }
    return id;
  }

  function formatBytes(n) {
    if (n < 1024) return n + ' bytes';
    if (n < 1024 * 1024) return (n / 1024).toFixed(1).replace(/\.0$/, '') + ' KiB';
    return (n / 1024 / 1024).toFixed(1).replace(/\.0$/, '') + ' MiB';
  }

  function extensionOf(name) {
    var dot = name.lastIndexOf('.');
    return dot < 0 ? '' : name.slice(dot + 1).toLowerCase();
  }

  function setStatus(text, done) {
    status.textContent = text;
    status.className = done ? 'done' : '';
  }

  function clearRefusal() {
    refusal.hidden = true;
    refusal.removeAttribute('data-code');
    refusal.removeAttribute('data-source');
  }

  // source: "page" (this page refused before asking), "darkroom" or "storage".
  function showRefusal(source, code, title, detail) {
    refusal.setAttribute('data-code', code);
    refusal.setAttribute('data-source', source);
    el('refusal-title').textContent = title;
    el('refusal-detail').textContent = detail;
    el('refusal-code').textContent = code + ' (from ' + source + ')';
    refusal.hidden = false;
    setStatus(source === 'storage' ? 'The upload failed.' : 'Nothing was uploaded.', false);
    progress.value = 0;
  }

  function describePolicy(app) {
    if (!app) return '';
    if (!app.allowPublicUpload) {
      return 'This app is closed to public upload: darkroom will refuse to hand out an upload URL.';
    }
    return 'Takes ' + app.allowedExtensions.join(', ') + ', up to ' + formatBytes(app.maxBytes) + '.';
  }

  function loadApps() {
    fetch('/demo-page/apps.json', { headers: { Accept: 'application/json' } })
      .then(function (response) {
        if (!response.ok) throw new Error('HTTP ' + response.status);
        return response.json();
      })
      .then(function (body) {
        appSelect.textContent = '';
        body.apps.forEach(function (app) {
          apps[app.name] = app;
          var option = document.createElement('option');
          option.value = app.name;
          option.textContent = app.name + (app.allowPublicUpload ? '' : ' (closed to public upload)');
          appSelect.appendChild(option);
        });
        if (apps.demo) appSelect.value = 'demo';
        appPolicy.textContent = body.apps.length ? describePolicy(apps[appSelect.value]) : 'No app is configured.';
        document.documentElement.setAttribute('data-ready', 'true');
      })
      .catch(function (error) {
        appPolicy.textContent = 'Could not load the apps from darkroom (' + error.message + ').';
        document.documentElement.setAttribute('data-ready', 'true');
      });
  }

  // The page's own checks: a refusal here means no request at all, to darkroom or to storage.
  function checkLocally(file, app) {
    var extension = extensionOf(file.name);
    var knownType = knownTypes[extension];
    if (!knownType || (file.type && file.type !== knownType && !(knownType === 'image/jpeg' && file.type === 'image/jpg'))) {
      return ['UNSUPPORTED_FILE_TYPE', 'Not an image darkroom accepts',
        '"' + file.name + '" is not a JPEG, PNG, GIF, WebP or AVIF image' +
        (file.type ? ' (the browser says ' + file.type + ')' : '') + '.'];
    }
    if (app && app.allowedExtensions.indexOf(extension) < 0) {
      return ['EXTENSION_NOT_ALLOWED', 'This app does not take .' + extension + ' files',
        'The app "' + app.name + '" takes ' + app.allowedExtensions.join(', ') + '.'];
    }
    if (app && file.size > app.maxBytes) {
      return ['FILE_TOO_LARGE', 'The file is too large',
        '"' + file.name + '" is ' + formatBytes(file.size) + '; the app "' + app.name + '" takes up to ' + formatBytes(app.maxBytes) + '.'];
    }
    if (file.size === 0) {
      return ['EMPTY_FILE', 'The file is empty', '"' + file.name + '" has no content.'];
    }
    return null;
  }

  // darkroom's refusals, by the stable code in its JSON error.
  function explainRefusal(code, message, error, file, appName) {
    var app = apps[appName];
    switch (code) {
      case 'UNSUPPORTED_FILE_TYPE':
      case 'CONTENT_TYPE_MISMATCH':
        return ['Not an image darkroom accepts', message];
      case 'EXTENSION_NOT_ALLOWED':
        return ['This app does not take this type of file', message];
      case 'FILE_TOO_LARGE':
        return ['The file is too large', '"' + file.name + '" is ' + formatBytes(file.size) +
          (app ? '; the app "' + appName + '" takes up to ' + formatBytes(app.maxBytes) + '.' : '. ' + message)];
      case 'RATE_LIMITED': {
        var retry = error.retryAfterSeconds === undefined ? null : String(error.retryAfterSeconds);
        return ['Too many uploads for now', 'darkroom limits how many upload URLs one owner gets. ' +
          (retry ? 'Try again in ' + retry + ' second' + (retry === '1' ? '' : 's') +
            (Number(retry) >= 120 ? ' (about ' + Math.round(Number(retry) / 60) + ' minutes).' : '.') : message)];
      }
      case 'PUBLIC_UPLOAD_DISABLED':
        return ['This app is closed to public upload', 'The app "' + appName +
          '" does not hand out upload URLs; its images are uploaded by its own backend.'];
      case 'APP_NOT_FOUND':
        return ['No such app', 'darkroom has no app named "' + appName + '".'];
      default:
        return ['darkroom refused the upload', message];
    }
  }

  // The upload itself goes through darkroom's typed client (src/client), served by darkroom as a
  // browser module and loaded on first use; this page only explains its typed errors.
  var client = null;
  function loadClient() {
    if (!client) client = import('/demo-page/client/index.js');
    return client;
  }

  function upload(file) {
    if (current) current.abort();
    current = null;
    clearRefusal();
    result.hidden = true;
    progress.value = 0;
    var appName = appSelect.value || 'demo';
    var app = apps[appName];

    if (!skipChecks.checked) {
      var local = checkLocally(file, app);
      if (local) {
        showRefusal('page', local[0], local[1], local[2] + ' Nothing was sent.');
        return;
      }
    }

    var controller = new AbortController();
    current = controller;
    var options = {
      baseURL: location.origin,
      app: appName,
      owner: ownerId,
      signal: controller.signal,
      onProgress: function (p) {
        var percent = Math.round(p.fraction * 100);
        progress.value = percent;
        progress.setAttribute('aria-valuetext', percent + ' percent uploaded');
      }
    };
    setStatus('Asking darkroom for an upload URL…', false);
    loadClient().then(function (darkroom) {
      return darkroom.presignUpload(file, options).then(function (grant) {
        setStatus('Uploading "' + file.name + '" (' + formatBytes(file.size) + ') straight to storage…', false);
        return darkroom.putToStorage(file, grant, options).then(function () {
          if (current === controller) current = null;
          progress.value = 100;
          show(file, grant);
        });
      }).catch(function (error) { explainError(darkroom, error, file, appName); });
    }, function (error) {
      showRefusal('page', 'CLIENT_NOT_LOADED', 'The upload client did not load', String(error && error.message));
    });
  }

  // The client's typed errors, as this page shows them.
  function explainError(darkroom, error, file, appName) {
    if (error instanceof darkroom.UploadAbortedError) return;
    current = null;
    if (error instanceof darkroom.StorageUploadError) {
      if (error.code === 'NETWORK_ERROR') {
        showRefusal('storage', 'NETWORK_ERROR', 'The upload could not reach storage',
          'The browser could not send the file to storage. With a real bucket, check its CORS rules allow PUT from this page\'s origin.');
        return;
      }
      showRefusal('storage', error.code, 'Storage refused the upload',
        'The storage service answered HTTP ' + error.status + ' (' + error.code + '). ' +
        (error.status === 403 ? 'The upload URL may have expired or the file changed since it was signed; choose it again.' : 'Try again.'));
      return;
    }
    if (error.code === 'NETWORK_ERROR') {
      showRefusal('darkroom', 'NETWORK_ERROR', 'darkroom could not be reached', error.message);
      return;
    }
    var explained = explainRefusal(error.code, error.message, error, file, appName);
    showRefusal('darkroom', error.code, explained[0], explained[1]);
  }

  function show(file, grant) {
    var url;
    try { url = new URL(grant.publicURL, location.href); } catch (e) { url = null; }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      showRefusal('darkroom', 'BAD_PUBLIC_URL', 'The public URL is not usable', 'darkroom returned a public URL this page will not load.');
      return;
    }
    setStatus('Uploaded. Loading it from its public URL…', false);
    publicLink.href = url.href;
    publicLink.textContent = url.href;
    image.onload = function () {
      setStatus('Done: "' + file.name + '" was uploaded and is shown below from its public URL.', true);
      result.setAttribute('data-loaded', 'true');
      showVariants(url, apps[appSelect.value || 'demo'], file);
    };
    image.onerror = function () {
      showRefusal('darkroom', 'IMAGE_NOT_LOADED', 'The image did not load', 'The upload succeeded, but the public URL did not serve it as an image.');
    };
    image.alt = 'The uploaded image "' + file.name + '"';
    caption.textContent = file.name + ', ' + formatBytes(file.size) + ', key ' + grant.key;
    result.removeAttribute('data-loaded');
    result.hidden = false;
    variantsSection.hidden = true;
    variantList.textContent = '';
    image.src = url.href;
  }

  // Each variant the app offers, side by side, with the bytes this browser received for it.
  function showVariants(url, app, file) {
    var offered = app && app.variants;
    if (!offered || (offered.widths.length === 0 && offered.presets.length === 0)) return;
    var queries = offered.widths.map(function (w) { return ['w=' + w, w + ' px wide']; })
      .concat(offered.presets.map(function (name) { return ['preset=' + encodeURIComponent(name), 'preset ' + name]; }));
    variantList.textContent = '';
    var pending = queries.length;
    queries.forEach(function (query) {
      var variantUrl = url.origin + url.pathname + '?' + query[0];
      var figure = document.createElement('figure');
      var img = document.createElement('img');
      var label = document.createElement('figcaption');
      img.alt = 'Variant ' + query[1] + ' of "' + file.name + '"';
      label.textContent = query[1] + ': loading…';
      var settle = function () {
        pending -= 1;
        if (pending === 0) variantsSection.setAttribute('data-loaded', 'true');
      };
      img.onload = function () {
        label.textContent = query[1] + ', ' + img.naturalWidth + ' x ' + img.naturalHeight + ', ' + receivedBytes(variantUrl, file.size);
        figure.setAttribute('data-loaded', 'true');
        settle();
      };
      img.onerror = function () {
        label.textContent = query[1] + ': did not load';
        figure.setAttribute('data-failed', 'true');
        settle();
      };
      figure.appendChild(img);
      figure.appendChild(label);
      variantList.appendChild(figure);
      img.src = variantUrl;
    });
    variantsSection.hidden = false;
  }

  // Resource Timing knows the bytes of a same-origin answer (encodedBodySize: as sent, before decoding).
  function receivedBytes(resourceUrl, originalSize) {
    var entries = performance.getEntriesByName(resourceUrl);
    var entry = entries[entries.length - 1];
    if (!entry || !entry.encodedBodySize) return 'size unknown';
    var share = Math.round((entry.encodedBodySize / originalSize) * 100);
    return formatBytes(entry.encodedBodySize) + ' (' + share + ' % of the original)';
  }

  fileInput.addEventListener('change', function () {
    if (fileInput.files && fileInput.files[0]) upload(fileInput.files[0]);
  });
  appSelect.addEventListener('change', function () {
    appPolicy.textContent = describePolicy(apps[appSelect.value]);
  });
  ['dragenter', 'dragover'].forEach(function (type) {
    dropZone.addEventListener(type, function (event) {
      event.preventDefault();
      dropZone.classList.add('dragging');
    });
  });
  ['dragleave', 'drop'].forEach(function (type) {
    dropZone.addEventListener(type, function () { dropZone.classList.remove('dragging'); });
  });
  dropZone.addEventListener('drop', function (event) {
    event.preventDefault();
    var files = event.dataTransfer && event.dataTransfer.files;
    if (files && files[0]) upload(files[0]);
  });

  loadApps();
})();
`;
