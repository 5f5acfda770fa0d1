// Where the package's parts live, wherever it is installed. This file compiles to
// dist/criu/src/paths.js, four levels below the package root.
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const nativeDir = path.join(packageRoot, 'native', 'build');
export const launcherBin = path.join(nativeDir, 'criu');
export const puppetBin = path.join(nativeDir, 'puppet');
export const nativeLib = path.join(nativeDir, 'libcriu-native.so');
/** what CRIU plugins call back into (print_on_level, criu_get_image_dir, add_inventory_plugin …) */
export const pluginHostLib = path.join(nativeDir, 'libcriu-plugin-host.so');
/** CRIU's default plugin folder (CR_PLUGIN_DEFAULT) */
export const defaultPluginDir = '/usr/lib/criu/';
