export * from './lib/ws-error';
export * from './lib/config-validation';
export * from './lib/logger';
export * from './lib/readable-chunks';
export * from './lib/replace-file';
