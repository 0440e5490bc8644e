// archive: streaming, strict tar reading and writing, and safe all-or-nothing extraction of
// untrusted archives through directory fds (see README.md for the defended attacks).
export { type TarEntryHeader, type TarEntryType, type IdMapper, identityIdMapper } from './lib/tar-entry';
export { TarParser, type TarEntry, type TarParserOptions } from './lib/tar-parser';
export { TarWriter, type TarWriteEntry, type TarWriterStats } from './lib/tar-writer';
export { packDirectory, type PackOptions, type PackResult, type PackStats } from './lib/pack-directory';
export {
  extractTar,
  type ExtractDestination,
  type ExtractOptions,
  type ExtractProgress,
  type ExtractResult,
  type RefusedEntry,
  type SkippedXattr,
} from './lib/extract-tar';
export { cleanExtractionLeftovers } from './lib/staging';
export { STAGING_PREFIX } from './lib/extract-policy';
export { DEFAULT_MAX_META_SIZE } from './lib/pax';
export { workspaceIdMappers, OVERFLOW_ID } from './lib/id-mappers';
// the directory-fd helpers extraction is built on, for other code that walks untrusted trees
export { O_PATH, openBeneath, openOrCreateDirs, chmodFd, removeTreeAt, emptyDirectory } from './lib/safe-tree';
