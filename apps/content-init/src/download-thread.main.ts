import { runDownloadThread } from '@wsrun/download';

// The worker thread the sandboxed child downloads archives on (ThreadedDownload), its own small
// bundle beside sandbox-child.js: the child extracts on its main thread meanwhile.
void runDownloadThread();
