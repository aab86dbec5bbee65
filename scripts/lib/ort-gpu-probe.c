/*
 * Link probe for a GPU build of ONNX Runtime: linked against libonnxruntime.so.1 through the C API
 * (the same way the native core links it), it prints one JSON object: the library it really loaded,
 * its version, the providers it was built with, and for CUDA and TensorRT whether their provider
 * library loads, with ONNX Runtime's exact error when it does not. No model and no GPU are needed:
 * appending an execution provider is what loads its library.
 *
 * Build (scripts/gpu-ort.sh does): cc -I<ort headers> ort-gpu-probe.c -L<lib> -l:libonnxruntime.so.1 -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <onnxruntime_c_api.h>

/* ONNX Runtime logs the loader's error text and returns a generic status, so the log is captured. */
static char g_log[8192];

static void capture_log(void *param, OrtLoggingLevel severity, const char *category, const char *logid,
                        const char *code_location, const char *message) {
  (void)param;
  (void)category;
  (void)logid;
  (void)code_location;
  if (severity < ORT_LOGGING_LEVEL_ERROR) return;
  size_t used = strlen(g_log);
  if (used + 2 >= sizeof g_log) return;
  snprintf(g_log + used, sizeof g_log - used, "%s%s", used ? "\n" : "", message);
  for (size_t end = strlen(g_log); end > 0 && (g_log[end - 1] == '\n' || g_log[end - 1] == ' '); end--)
    g_log[end - 1] = 0;
}

static void json_string(const char *s) {
  putchar('"');
  for (; s && *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') printf("\\%c", c);
    else if (c == '\n') fputs("\\n", stdout);
    else if (c < 0x20) printf("\\u%04x", c);
    else putchar(c);
  }
  putchar('"');
}

/* The loader's own words ("libcuda.so.1: cannot open shared object file ...") when ORT logged them. */
static const char *loader_error(void) {
  const char *p = strstr(g_log, " with error: ");
  return p ? p + strlen(" with error: ") : g_log;
}

static void report(const OrtApi *api, const char *name, OrtStatus *st, int last) {
  printf("    {\"name\": ");
  json_string(name);
  if (st == NULL) {
    printf(", \"loads\": true, \"error\": null}");
  } else {
    printf(", \"loads\": false, \"status\": ");
    json_string(api->GetErrorMessage(st));
    printf(", \"error\": ");
    json_string(g_log[0] ? loader_error() : api->GetErrorMessage(st));
    printf("}");
    api->ReleaseStatus(st);
  }
  printf(last ? "\n" : ",\n");
}

int main(void) {
  const OrtApiBase *base = OrtGetApiBase();
  const OrtApi *api = base->GetApi(ORT_API_VERSION);
  if (!api) {
    printf("{\"error\": \"the library does not serve C API version %d\"}\n", ORT_API_VERSION);
    return 1;
  }
  Dl_info info;
  char real[PATH_MAX] = "";
  if (dladdr((void *)OrtGetApiBase, &info) && info.dli_fname && !realpath(info.dli_fname, real))
    snprintf(real, sizeof real, "%s", info.dli_fname);

  OrtEnv *env = NULL;
  OrtStatus *st = api->CreateEnvWithCustomLogger(capture_log, NULL, ORT_LOGGING_LEVEL_WARNING, "cvp-probe", &env);
  if (st) {
    printf("{\"error\": ");
    json_string(api->GetErrorMessage(st));
    printf("}\n");
    return 1;
  }
  printf("{\n  \"library\": ");
  json_string(real);
  printf(",\n  \"loadedAs\": ");
  json_string(info.dli_fname);
  printf(",\n  \"version\": ");
  json_string(base->GetVersionString());
  printf(",\n  \"apiVersion\": %d,\n  \"builtWith\": [", ORT_API_VERSION);
  char **names = NULL;
  int n = 0;
  if (!api->GetAvailableProviders(&names, &n)) {
    for (int i = 0; i < n; i++) {
      if (i) printf(", ");
      json_string(names[i]);
    }
    OrtStatus *rel = api->ReleaseAvailableProviders(names, n);
    if (rel) api->ReleaseStatus(rel);
  }
  printf("],\n  \"providers\": [\n");

  OrtSessionOptions *so = NULL;
  st = api->CreateSessionOptions(&so);
  if (st) {
    printf("  ],\n  \"error\": ");
    json_string(api->GetErrorMessage(st));
    printf("\n}\n");
    return 1;
  }

  OrtCUDAProviderOptionsV2 *cuda = NULL;
  g_log[0] = 0;
  st = api->CreateCUDAProviderOptions(&cuda);
  if (!st) st = api->SessionOptionsAppendExecutionProvider_CUDA_V2(so, cuda);
  report(api, "cuda", st, 0);
  if (cuda) api->ReleaseCUDAProviderOptions(cuda);

  OrtTensorRTProviderOptionsV2 *trt = NULL;
  g_log[0] = 0;
  st = api->CreateTensorRTProviderOptions(&trt);
  if (!st) st = api->SessionOptionsAppendExecutionProvider_TensorRT_V2(so, trt);
  report(api, "tensorrt", st, 1);
  if (trt) api->ReleaseTensorRTProviderOptions(trt);

  printf("  ]\n}\n");
  api->ReleaseSessionOptions(so);
  api->ReleaseEnv(env);
  return 0;
}
