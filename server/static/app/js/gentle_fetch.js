// A fetch for replication that is gentle with the server, and patient with it.
//
// PouchDB asks for every attachment of a batch at once: a phone pulling its
// photos back (a new phone, a reinstall) sends a hundred requests together. The
// sync gateway takes a few at a time from one volunteer and answers the rest
// 503 with Retry-After (code 503.3), which would end PouchDB's batch in an
// error. So at most `limit` requests are in flight (what a browser allows one
// origin over HTTP/1.1; over HTTP/2 it would allow far more), and a 503 with
// Retry-After is waited out and sent again, a few times, before it is given
// to PouchDB as it came.

export function gentleFetch(fetchImpl, { limit = 6, retries = 4, longestWait = 10 } = {}) {
  let active = 0;
  const waiting = [];
  const acquire = () => new Promise((resolve) => {
    if (active < limit) {
      active += 1;
      resolve();
    } else {
      waiting.push(resolve);
    }
  });
  const release = () => {
    const next = waiting.shift();
    if (next) next(); else active -= 1;
  };
  return async function fetchGently(url, options) {
    for (let attempt = 0; ; attempt += 1) {
      await acquire();
      let reply;
      try {
        reply = await fetchImpl(url, options);
      } finally {
        release();
      }
      const after = Number(reply.headers.get('Retry-After'));
      if (reply.status !== 503 || !after || attempt >= retries) return reply;
      const seconds = Math.min(after, longestWait) * (1 + Math.random() / 2);
      await new Promise((resolve) => { setTimeout(resolve, seconds * 1000); });
    }
  };
}
