/**
 * The Podfile pipeline, pure: `resolvePodfile(text, file, { load, bundledBaseImage, caps })` ->
 * `planEnvironment(resolution.podfile, { instance, user, project, nodeConfig, caps })` -> an
 * EnvironmentPlan the daemon applies. The devcontainer importer and `init` detection feed the
 * same pipeline. This file is the surface the runtime half builds on; see docs/podfiles.md.
 */
export { PODFILE_MAX_BYTES, parsePodfile, type ParsedPodfile, type ParseOptions, type ResourceCaps } from "./parse.js";
export { MAX_EXTENDS_DEPTH, localPodfilePath, resolvePodfile, type LoadedPodfile, type PodfileLoader, type Resolution, type ResolveOptions } from "./resolve.js";
export type { ResolvedPodfile } from "./resolved-podfile.js";
export { PODFILE_LAYER_SCHEMA, PODFILE_SCHEMA_ID, podfileJsonSchema, type PodfileLayer, type ServiceSpec, type RepoSpec, type DotfilesSpec, type PortStrategy, type Mount, type PodfileMode } from "./schema.js";
export type { ServiceVolume } from "./field-schemas.js";
export { BUNDLED_BASE_NAMES } from "./bundled-bases.js";
export { compileDockerfile, needsBuild } from "./dockerfile.js";
export { contentTag, dockerfileDigest, PODFILE_TAG_PREFIX } from "./content-tag.js";
export { expandPodspawnVars, nodeResourceCaps, planEnvironment, SERVICE_LABEL, SERVICE_LIMITS, SERVICES_NETWORK_LABEL, servicesNetworkName, MOUNT_COPY_ALLOWED, type PlanContext, type PlanTarget, type ProjectRepository } from "./plan.js";
export type { EnvironmentPlan, ImagePlan, ProjectClone, RepoClone, ServicePlan, ServicesNetworkSpec, ServiceVolumePlan, SessionSettings, SetupPlan } from "./environment-plan.js";
export { DEVCONTAINER_FILES, findDevcontainer, importDevcontainer, type DevcontainerImport } from "./devcontainer.js";
export { detectProject, starterPodfile, type Detection, type StarterPodfile } from "./init-detect.js";
export { INIT_TEMPLATES, type InitTemplate } from "./init-templates.js";
export { serviceContainerSpec, transientVolumesOf, TRANSIENT_VOLUMES_LABEL, type ServiceContainerSpec } from "./service-container.js";
export { createSteps, hasCreateSteps, sessionEnv, startSteps, workdirOf, withSessionSettings, CLONE_TIMEOUT_MS, HOOK_TIMEOUT_MS, type SetupStep } from "./setup-steps.js";
