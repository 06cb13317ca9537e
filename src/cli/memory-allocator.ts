/**
 * Which memory allocator a process runs on, as the `hearth` launcher (bin/hearth) left it: the
 * malloc library mapped into it (tcmalloc, or jemalloc or mimalloc when an operator preloaded
 * one), else `system`. Read from /proc/<pid>/maps, so it reports what is loaded, not what was
 * asked for. The gateway's /healthz reports its own; `npm run bench -- gateway` asks the same of
 * every server it runs.
 */
import { readFileSync } from 'node:fs';

export type MemoryAllocator = 'tcmalloc' | 'jemalloc' | 'mimalloc' | 'system';

export function memoryAllocator(maps: () => string = () => readFileSync('/proc/self/maps', 'utf8')): MemoryAllocator {
  try {
    return (/\/lib(tcmalloc|jemalloc|mimalloc)[^/\s]*\.so/.exec(maps())?.[1] as MemoryAllocator | undefined) ?? 'system';
  } catch {
    return 'system'; // no /proc: not Linux, and not preloaded by the launcher
  }
}
