// Loads a k6 script as an ES module inside a VU thread without rewriting it.
//
// The script and the local files it imports become vm.SourceTextModules (node's
// --experimental-vm-modules, which the VU threads get in their execArgv; the API is the same on
// Node 18 and 20). Their linker answers "k6", "k6/http", ... with vm.SyntheticModules that export
// this VU's implementation of the k6 API, and resolves relative specifiers against the importing
// file. Everything else (npm packages, remote https:// modules) is refused with a clear error:
// real k6 cannot import npm packages either, and the network is not ours to reach.

import fs from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import vm from 'node:vm';

// Loads and evaluates scriptPath; returns its namespace (the exports). `modules` maps each k6
// module name to the object whose properties it exports (and which is also its default export).
export async function loadScript(scriptPath, modules) {
  if (typeof vm.SourceTextModule !== 'function') {
    throw new Error('vm.SourceTextModule is missing: VU threads need --experimental-vm-modules');
  }
  const cache = new Map(); // resolved URL or module name -> vm.Module

  const builtin = (name) => {
    let module = cache.get(name);
    if (module === undefined) {
      const exports = modules[name];
      const names = Object.keys(exports).filter((key) => key !== 'default');
      module = new vm.SyntheticModule(
        [...names, 'default'],
        function init() {
          for (const key of names) this.setExport(key, exports[key]);
          this.setExport('default', exports.default ?? exports);
        },
        { identifier: name },
      );
      cache.set(name, module);
    }
    return module;
  };

  const link = async (specifier, referencing) => {
    if (Object.prototype.hasOwnProperty.call(modules, specifier)) return builtin(specifier);
    if (specifier === 'k6' || specifier.startsWith('k6/')) {
      const known = Object.keys(modules).join(', ');
      throw new Error(`module "${specifier}" is not implemented by this runner (it has ${known})`);
    }
    if (/^https?:/.test(specifier)) {
      throw new Error(`remote module "${specifier}" is not supported by this runner`);
    }
    if (!/^(\.{1,2}\/|\/|file:)/.test(specifier)) {
      throw new Error(
        `cannot resolve module "${specifier}": only k6 modules and local files can be imported`,
      );
    }
    return source(new URL(specifier, referencing.identifier).href);
  };

  const evaluated = async (module) => {
    if (module.status === 'unlinked') await module.link(link);
    if (module.status === 'linked') await module.evaluate();
    return module;
  };

  const source = (url) => {
    let module = cache.get(url);
    if (module === undefined) {
      const text = fs.readFileSync(fileURLToPath(url), 'utf8');
      module = new vm.SourceTextModule(text, {
        identifier: url,
        initializeImportMeta(meta) {
          meta.url = url;
        },
        importModuleDynamically: async (specifier, referencing) =>
          evaluated(await link(specifier, referencing)),
      });
      cache.set(url, module);
    }
    return module;
  };

  const root = source(pathToFileURL(scriptPath).href);
  await root.link(link);
  await root.evaluate();
  return root.namespace;
}
