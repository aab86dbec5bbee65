import { startInference } from '../start-inference';
import { standaloneConfigSchema, standaloneModule } from './standalone';

/** Entry point of a packager bundle's data plane (see standalone.ts). */
startInference('inference (standalone)', standaloneConfigSchema, standaloneModule, { authenticate: false });
