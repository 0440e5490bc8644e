/** The model of one archive member, shared by the parser, the writer and extraction. */

export type TarEntryType = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

export interface TarEntryHeader {
  /** the member's path as stored (pax path, GNU long name, or ustar prefix/name); not normalised */
  path: string;
  type: TarEntryType;
  /** body length in bytes; 0 for every type but 'file' */
  size: number;
  /** permission bits incl. setuid/setgid/sticky (& 0o7777) */
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  /** nanoseconds since the epoch */
  mtimeNs: bigint;
  /** from a pax atime record, when present */
  atimeNs?: bigint;
  /** symlink target or hardlink source path; '' for other types */
  linkpath: string;
  devMajor: number;
  devMinor: number;
  /** extended attributes (pax SCHILY.xattr.*) */
  xattrs: Map<string, Buffer>;
  /** path or linkpath bytes were not valid UTF-8 (the strings hold a lossy decoding) */
  invalidUtf8?: boolean;
  /** byte offset of the entry's first header in the archive */
  offset?: number;
}

/** ustar typeflag of each entry type (POSIX.1-2001 ustar; '0' for files). */
export const TYPEFLAG: Record<TarEntryType, string> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  char: '3',
  block: '4',
  dir: '5',
  fifo: '6',
};

/** Maps host ids to other ids (host → workspace when packing, archive → host when extracting). */
export interface IdMapper {
  uid(id: number): number;
  gid(id: number): number;
}

export const identityIdMapper: IdMapper = { uid: (id) => id, gid: (id) => id };
