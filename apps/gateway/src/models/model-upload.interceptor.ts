import { Injectable } from '@nestjs/common';
import { InjectConfig } from '@cvp/platform';
import type { GatewayConfig } from '../config';
import { ModelFiles } from './model-files';
import {
  SingleFileUploadInterceptor,
  type UploadLimits,
  type UploadRequest,
} from '../common/upload/single-file-upload.interceptor';
import { UploadAdmission } from '../common/upload/upload-admission';
import type { AuthenticatedPrincipal } from '../auth/principal';
import { UserLimitsService } from '../limits/user-limits.service';

/** Model uploads: capped at CVP_MODEL_UPLOAD_MAX_BYTES, staged under the data dir's tmp/uploads. */
@Injectable()
export class ModelUploadInterceptor extends SingleFileUploadInterceptor {
  private readonly admission: UploadAdmission;
  constructor(
    @InjectConfig() private readonly config: GatewayConfig,
    private readonly files: ModelFiles,
    private readonly userLimits: UserLimitsService,
  ) {
    super();
    this.admission = new UploadAdmission(config.CVP_UPLOAD_CONCURRENCY);
  }
  protected limits(): UploadLimits {
    return {
      maxFileBytes: this.config.CVP_MODEL_UPLOAD_MAX_BYTES,
      tmpDir: this.files.uploadTmpDir,
      admission: this.admission,
    };
  }
  /** An upload queues a conversion: refused early when its owner is at the storage or job limit. */
  protected override async admit(req: UploadRequest, declaredBytes: number | undefined): Promise<void> {
    const owner = (req as UploadRequest & { user?: AuthenticatedPrincipal }).user?.ownerId;
    if (!owner) return;
    await this.userLimits.assertMayStore(owner, declaredBytes ?? 0);
    await this.userLimits.assertMayQueueJob(owner);
  }
}
