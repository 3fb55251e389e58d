// A loopback npm registry for the @skittlesorter scope, serving the packed tarballs of `pnpm release:dry`.
// `npm install -g` cannot take `overrides` (each global package is its own tree), so to install the sorter
// globally the way a Pi does (`npm install -g @skittlesorter/sorter`) without asking the real registry for our
// packages, npm is pointed at this server for the scope only (`--@skittlesorter:registry=<url>`); every other
// package still comes from the configured registry.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { basename } from "node:path";
import { gunzipSync } from "node:zlib";

/** The package.json inside a .tgz (npm tarballs are a gzipped ustar archive; the manifest is `package/package.json`). */
function manifestOf(tarball) {
  const tar = gunzipSync(tarball);
  for (let offset = 0; offset + 512 <= tar.length; ) {
    const name = tar.toString("utf8", offset, offset + 100).replace(/\0.*$/s, "");
    if (name === "") break;
    const size = Number.parseInt(tar.toString("utf8", offset + 124, offset + 136).replace(/\0.*$/s, ""), 8);
    if (name === "package/package.json")
      return JSON.parse(tar.toString("utf8", offset + 512, offset + 512 + size));
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  throw new Error("no package/package.json in the tarball");
}

/**
 * Starts the registry on a free loopback port. `tarballs`: package name → tarball path.
 * Resolves with { url, requests, close }; `requests` lists every path npm asked for.
 */
export async function startLocalRegistry(tarballs) {
  const packages = new Map(); // name → { manifest, data, file }
  for (const [name, file] of tarballs) {
    const data = await readFile(file);
    packages.set(name, { manifest: manifestOf(data), data, file: basename(file) });
  }
  const requests = [];
  const server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? "/", "http://registry").pathname);
    requests.push(path);
    const { port } = server.address();
    const tarballMatch = /^\/-\/(.+\.tgz)$/.exec(path);
    if (tarballMatch) {
      const found = [...packages.values()].find((entry) => entry.file === tarballMatch[1]);
      if (found === undefined) return response.writeHead(404).end();
      return response.writeHead(200, { "content-type": "application/octet-stream" }).end(found.data);
    }
    const entry = packages.get(path.slice(1));
    if (entry === undefined) {
      return response
        .writeHead(404, { "content-type": "application/json" })
        .end(JSON.stringify({ error: `${path.slice(1)} is not one of the packed tarballs` }));
    }
    const { manifest, data, file } = entry;
    const dist = {
      tarball: `http://127.0.0.1:${port}/-/${file}`,
      shasum: createHash("sha1").update(data).digest("hex"),
      integrity: `sha512-${createHash("sha512").update(data).digest("base64")}`,
    };
    const packument = {
      name: manifest.name,
      "dist-tags": { latest: manifest.version },
      versions: { [manifest.version]: { ...manifest, _id: `${manifest.name}@${manifest.version}`, dist } },
    };
    response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(packument));
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
