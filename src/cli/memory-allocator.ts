/**
 * Which memory allocator this process runs on, as the `hearth` launcher (bin/hearth) left it:
 * `tcmalloc` when libtcmalloc is mapped into the process, else `system`. Read from
 * /proc/self/maps, so it reports what is loaded, not what was asked for.
 */
import { readFileSync } from 'node:fs';

export type MemoryAllocator = 'tcmalloc' | 'system';

export function memoryAllocator(maps: () => string = () => readFileSync('/proc/self/maps', 'utf8')): MemoryAllocator {
  try {
    return /\/libtcmalloc[^/\s]*\.so/.test(maps()) ? 'tcmalloc' : 'system';
  } catch {
    return 'system'; // no /proc: not Linux, and not preloaded by the launcher
  }
}
