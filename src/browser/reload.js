// net-watcher's live reload: add
//   <script src="http://127.0.0.1:8080/reload.js"></script>
// to a page (with the address net-watcher --http listens on), and the page
// reloads each time the watched file changes.
// ANCHOR: reload
(() => {
  // The stream of the server this script came from, whatever page loads it.
  const events = new EventSource(new URL("/events", document.currentScript.src));
  events.addEventListener("changed", () => location.reload());
})();
// ANCHOR_END: reload
