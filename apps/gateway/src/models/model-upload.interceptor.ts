import { Injectable } from '@nestjs/common';
import { InjectConfig } from '@cvp/platform';
import type { GatewayConfig } from '../config';
import { ModelFiles } from './model-files';
import { SingleFileUploadInterceptor, type UploadLimits } from '../common/upload/single-file-upload.interceptor';
import { UploadAdmission } from '../common/upload/upload-admission';

/** Model uploads: capped at CVP_MODEL_UPLOAD_MAX_BYTES, staged under the data dir's tmp/uploads. */
@Injectable()
export class ModelUploadInterceptor extends SingleFileUploadInterceptor {
  private readonly admission: UploadAdmission;
  constructor(
    @InjectConfig() private readonly config: GatewayConfig,
    private readonly files: ModelFiles,
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
}
