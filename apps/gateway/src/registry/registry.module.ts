import { Module } from '@nestjs/common';
import { DatasetsModule } from '../datasets/datasets.module';
import { ModelsModule } from '../models/models.module';
import { RegistryResponders } from './registry.responders';

/** NATS responders: cvp.registry.model.describe and cvp.registry.dataset.describe. */
@Module({ imports: [ModelsModule, DatasetsModule], providers: [RegistryResponders] })
export class RegistryModule {}
