import { AppModule } from './app.module';
import { inferenceConfigSchema } from './config';
import { startInference } from './start-inference';

startInference('inference', inferenceConfigSchema, (config, logger) => AppModule.forRoot(config, logger), {
  authenticate: true,
});
