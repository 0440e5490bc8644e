/**
 * The one error class of native-ns. The native side creates instances of it (the loader
 * registers it with the addon), so every syscall failure, in the addon or in a stage process,
 * arrives as a NativeNsError with the errno name in `code` and the syscall and path or pid
 * involved. Callers branch on `code`.
 */
export interface NativeNsErrorFields {
  errno: number;
  code: string;
  syscall: string;
  path?: string;
  pid?: number;
  detail?: string;
  /** for stage failures: which step ("mount /proc", "pivot_root /tmp/root") */
  step?: string;
}

export class NativeNsError extends Error implements NativeNsErrorFields {
  override readonly name = 'NativeNsError';
  readonly errno: number;
  readonly code: string;
  readonly syscall: string;
  readonly path?: string;
  readonly pid?: number;
  readonly detail?: string;
  readonly step?: string;

  constructor(fields: NativeNsErrorFields) {
    super(NativeNsError.describe(fields));
    this.errno = fields.errno;
    this.code = fields.code;
    this.syscall = fields.syscall;
    if (fields.path !== undefined) this.path = fields.path;
    if (fields.pid !== undefined) this.pid = fields.pid;
    if (fields.detail !== undefined) this.detail = fields.detail;
    if (fields.step !== undefined) this.step = fields.step;
  }

  private static describe(f: NativeNsErrorFields): string {
    const where = f.path ? ` ${f.path}` : f.pid ? ` pid ${f.pid}` : '';
    const detail = f.detail ? ` (${f.detail})` : '';
    const step = f.step ? `${f.step}: ` : '';
    return `${step}${f.syscall}${where}: ${f.code}${detail}`;
  }
}

/** A NativeNsError built in TS (for checks the TS layer makes before calling the kernel). */
export function nativeError(code: string, errno: number, syscall: string, where: { path?: string; pid?: number; detail?: string } = {}): NativeNsError {
  return new NativeNsError({ code, errno, syscall, ...where });
}
