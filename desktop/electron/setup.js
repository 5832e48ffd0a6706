// First-run form: hands the values to the main process through the preload's `deskSetup`.
const form = document.getElementById('setup');
const error = document.getElementById('setup-error');
form.addEventListener('submit', (event) => {
  event.preventDefault();
  const data = new FormData(form);
  window.deskSetup
    .save(String(data.get('serverUrl') ?? ''), String(data.get('token') ?? ''))
    .then((message) => {
      error.textContent = message ?? '';
    })
    .catch((err) => {
      error.textContent = String(err);
    });
});
