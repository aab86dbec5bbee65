// The web UI's own script (no build step). htmx does the requests; this only adds what htmx leaves
// to the page: the upload progress bar, and focus for content that htmx swaps in.
(function () {
  'use strict';

  // Upload progress: htmx relays XMLHttpRequest upload progress as htmx:xhr:progress on the form.
  document.addEventListener('htmx:xhr:progress', function (evt) {
    var form = evt.target.closest && evt.target.closest('form[data-upload]');
    if (!form || !evt.detail.lengthComputable) return;
    var bar = form.querySelector('progress.upload');
    var text = form.querySelector('.upload-pct');
    var pct = Math.round((evt.detail.loaded / evt.detail.total) * 100);
    if (bar) {
      bar.hidden = false;
      bar.value = pct;
    }
    if (text) text.textContent = pct + ' % uploaded';
  });

  // After a form is swapped back with problems, move focus to the first invalid field.
  document.addEventListener('htmx:afterSwap', function (evt) {
    var invalid = evt.detail.target.querySelector && evt.detail.target.querySelector('[aria-invalid="true"]');
    if (invalid) invalid.focus();
  });
})();
