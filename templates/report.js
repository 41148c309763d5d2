'use strict';
(function () {
  var table = document.getElementById('principals');
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var state = { mfa: 'all', source: '', target: '', admins: false, exempt: '', query: '' };
  var shown = document.getElementById('shown');

  function keeps(row) {
    var d = row.dataset;
    if (state.mfa === 'enabled' && d.status !== 'enabled') return false;
    if (state.mfa === 'disabled' && ['disabled', 'insecure', 'unknown'].indexOf(d.status) < 0) return false;
    if (state.source && d.source !== state.source) return false;
    if (state.target && d.target !== state.target) return false;
    if (state.admins && d.admin !== 'true') return false;
    if (state.exempt === 'only' && d.exempt !== 'true') return false;
    if (state.exempt === 'hide' && d.exempt === 'true') return false;
    if (state.query && row.textContent.toLowerCase().indexOf(state.query) < 0) return false;
    return true;
  }

  function apply() {
    var n = 0;
    rows.forEach(function (row) {
      var keep = keeps(row);
      row.hidden = !keep;
      if (keep) n += 1;
    });
    shown.textContent = 'Showing ' + n + ' of ' + rows.length;
  }

  Array.prototype.forEach.call(document.querySelectorAll('#mfa button'), function (b) {
    b.addEventListener('click', function () {
      state.mfa = b.dataset.mfa;
      Array.prototype.forEach.call(document.querySelectorAll('#mfa button'), function (o) {
        o.setAttribute('aria-pressed', String(o === b));
      });
      apply();
    });
  });
  document.getElementById('source').addEventListener('change', function (e) { state.source = e.target.value; apply(); });
  document.getElementById('target').addEventListener('change', function (e) { state.target = e.target.value; apply(); });
  document.getElementById('exempt').addEventListener('change', function (e) { state.exempt = e.target.value; apply(); });
  document.getElementById('admins').addEventListener('change', function (e) { state.admins = e.target.checked; apply(); });
  document.getElementById('search').addEventListener('input', function (e) {
    state.query = e.target.value.trim().toLowerCase();
    apply();
  });

  // Sorting: a header click sorts by that column, a second click reverses;
  // ties keep the default order (non-compliant first).
  var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
  headers.forEach(function (th, col) {
    var button = th.querySelector('button');
    if (!button) return;
    button.addEventListener('click', function () {
      var dir = th.getAttribute('aria-sort') === 'ascending' ? -1 : 1;
      headers.forEach(function (h) { h.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', dir === 1 ? 'ascending' : 'descending');
      var numeric = th.dataset.type === 'number';
      var sorted = rows.slice().sort(function (a, b) {
        var x = a.cells[col].dataset.sort !== undefined ? a.cells[col].dataset.sort : a.cells[col].textContent;
        var y = b.cells[col].dataset.sort !== undefined ? b.cells[col].dataset.sort : b.cells[col].textContent;
        var c = numeric ? Number(x) - Number(y) : x.localeCompare(y);
        return c !== 0 ? dir * c : Number(a.dataset.order) - Number(b.dataset.order);
      });
      sorted.forEach(function (r) { body.appendChild(r); });
    });
  });

  apply();
})();
