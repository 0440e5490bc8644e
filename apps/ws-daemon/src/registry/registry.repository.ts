import { Injectable } from '@nestjs/common';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DaemonConfig } from '../config/daemon-config';
import type { WorkspaceRecord } from './workspace';

interface RegistryFile {
  version: 1;
  workspaces: WorkspaceRecord[];
}

/**
 * The registry on disk: one JSON file, replaced atomically (write a temp file, fsync it, rename it
 * over the old one, fsync the folder), so a crash at any moment leaves either the old or the new
 * registry, never a torn one.
 */
@Injectable()
export class RegistryRepository {
  constructor(private readonly config: DaemonConfig) {}

  load(): WorkspaceRecord[] {
    let text: string;
    try {
      text = readFileSync(this.config.registryFile, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const parsed = JSON.parse(text) as RegistryFile;
    if (parsed.version !== 1 || !Array.isArray(parsed.workspaces)) {
      throw new Error(`${this.config.registryFile}: not a wsrun registry (version ${String(parsed.version)})`);
    }
    return parsed.workspaces;
  }

  save(workspaces: WorkspaceRecord[]): void {
    const file = this.config.registryFile;
    mkdirSync(dirname(file), { recursive: true, mode: 0o755 });
    const temp = `${file}.tmp-${process.pid}`;
    const body: RegistryFile = { version: 1, workspaces };
    const fd = openSync(temp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify(body, null, 2) + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, file);
    const dirFd = openSync(dirname(file), 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  }
}
