// The hello of examples/hello (GET /hello answers "hello, world\n" as
// text/plain) on Google's functions-framework for Node. bench/throughput.sh
// serves it with `npx functions-framework --target=hello --port P` and
// loads it with wrk next to kumo and nginx.
const functions = require('@google-cloud/functions-framework');

functions.http('hello', (req, res) => {
  res.set('Content-Type', 'text/plain');
  res.send('hello, world\n');
});
