// Used by scripts/setup-system.sh: prints the browser the tests will use (exit 0); or, on Debian/Ubuntu, the apt
// package that would provide one (exit 10); or one line saying what to do (stderr, exit 1). Installs nothing.
import { findBrowser } from "@skittlesorter/test-utils/browser";

const result = findBrowser({ env: process.env });
if (result.found) {
  process.stdout.write(`${result.path}\n`);
} else if (result.aptPackage !== undefined) {
  process.stdout.write(`${result.aptPackage}\n`);
  process.exitCode = 10;
} else {
  process.stderr.write(`setup-system: ${result.message}\n`);
  process.exitCode = 1;
}
