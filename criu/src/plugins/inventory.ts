// The plugins a dump needs at restore, as CRIU keeps them (image.c): a plugin that calls
// add_inventory_plugin() at dump is recorded in inventory.img's plugins_entry (newest first, as
// CRIU lists them); a restore takes that list from the images, each plugin claims its name
// (check_and_remove_inventory_plugin() from its init, or, in criu-ts, just by being loaded under
// that name), and what nobody claimed fails the restore with "Missing required plugin: NAME".
// Images without plugins_entry (older CRIU) enable every plugin.
import type { InventoryEntry } from '../images/gen/types.js';

export class InventoryPlugins {
  /** null: the images have no plugins_entry, every plugin is enabled */
  private names: string[] | null = [];

  /** at restore: the list the images ask for */
  static fromInventory(inv: InventoryEntry | null | undefined): InventoryPlugins {
    const p = new InventoryPlugins();
    p.names = inv?.plugins_entry ? [...(inv.plugins_entry.plugins ?? [])] : null;
    return p;
  }

  /** add_inventory_plugin(): 0 */
  add(name: string): number {
    if (this.names === null) this.names = [];
    this.names.unshift(name);
    return 0;
  }

  /** check_and_remove_inventory_plugin(name, n): compares the first n characters, as strncmp does */
  checkAndRemove(name: string, n = name.length): boolean {
    if (this.names === null) return true;
    const want = name.slice(0, n);
    const i = this.names.findIndex((p) => p.slice(0, n) === want);
    if (i < 0) return false;
    this.names.splice(i, 1);
    return true;
  }

  /** the names still recorded: at dump, what inventory.img's plugins_entry.plugins gets; at restore, what is missing */
  list(): string[] {
    return this.names ? [...this.names] : [];
  }

  /** whether the images said nothing about plugins */
  get everyPluginEnabled(): boolean {
    return this.names === null;
  }
}
