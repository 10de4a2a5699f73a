import { createHash } from 'node:crypto';
import type { V1ConfigMap, V1Pod } from '@kubernetes/client-node';
import { RUNTIMES, type Language } from '../../domain/runtimes';
import { RUNTIME_DEFINITIONS } from '../local/runtime-registry';
import type { RunSpec } from '../runner';

/** Every object the runner makes carries these labels; the deploy manifests' deny-all NetworkPolicy selects `RUN_POD_LABELS`. */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'execution-orchestrator';
export const COMPONENT_LABEL = 'app.kubernetes.io/component';
export const RUN_COMPONENT = 'script-run';
/** The execution id (or its hash, when the id is not a valid label value). */
export const EXECUTION_LABEL = 'execution-orchestrator/execution-id';
/** The exact execution id. */
export const EXECUTION_ANNOTATION = 'execution-orchestrator/execution-id';
/** The selector of every run pod and ConfigMap (orphan collection, NetworkPolicy). */
export const RUN_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY},${COMPONENT_LABEL}=${RUN_COMPONENT}`;

export const CONTAINER_NAME = 'script';
const SCRIPT_DIR = '/run/script';
const STDIN_KEY = 'stdin';

/** The interpreter's name on the PATH of each language's image. */
const INTERPRETERS: Readonly<Record<Language, string>> = { python: 'python3', node: 'node', bash: 'bash' };

export interface PodSettings {
  namespace: string;
  images: Readonly<Record<Language, string>>;
  runtimeClassName: string | undefined;
  podAnnotations: Readonly<Record<string, string>>;
  cpuRequest: string;
  cpuLimit: string;
  /** Size of each emptyDir (/box, /tmp), MiB; also the container's ephemeral-storage limit (both together). */
  scratchMb: number;
  runAsUser: number;
  /** How long the runner waits past `wallTimeMs` before it deletes a pod itself (the kubelet's activeDeadlineSeconds comes first). */
  deadlineGraceMs: number;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** The pod's name: `eo-run-<executionId>` when that is a valid name, else `eo-run-<hash of the id>`. Same id, same name: a retry finds the pod. */
export function podName(executionId: string): string {
  const plain = `eo-run-${executionId}`;
  if (plain.length <= 63 && DNS_LABEL.test(plain)) return plain;
  return `eo-run-${createHash('sha256').update(executionId).digest('hex').slice(0, 40)}`;
}

/** The ConfigMap holding the script (and stdin): the pod's name. */
export const configMapName = podName;

function executionLabel(executionId: string): string {
  return /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/.test(executionId) ? executionId : createHash('sha256').update(executionId).digest('hex').slice(0, 63);
}

function metadata(spec: RunSpec, settings: PodSettings, annotations: Record<string, string> = {}) {
  return {
    name: podName(spec.executionId),
    namespace: settings.namespace,
    labels: { [MANAGED_BY_LABEL]: MANAGED_BY, [COMPONENT_LABEL]: RUN_COMPONENT, [EXECUTION_LABEL]: executionLabel(spec.executionId) },
    annotations: { ...annotations, [EXECUTION_ANNOTATION]: spec.executionId },
  };
}

export function buildConfigMap(spec: RunSpec, settings: PodSettings): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: metadata(spec, settings),
    immutable: true,
    data: { [RUNTIMES[spec.language].fileName]: spec.script, [STDIN_KEY]: spec.stdin ?? '' },
  };
}

/**
 * The run's pod: one container, the script and stdin from the ConfigMap (read-only), `/box` (cwd, HOME) and
 * `/tmp` size-capped emptyDirs; non-root, read-only root filesystem, no capabilities, no privilege escalation,
 * seccomp RuntimeDefault, no service-account token, no service links; memory request = limit; the kubelet
 * fails it at `activeDeadlineSeconds` (the wall limit, rounded up). Its stderr goes to the termination log
 * (the kubelet keeps its first 4 KiB in the container status), its stdout to the pod log.
 */
export function buildPod(spec: RunSpec, settings: PodSettings): V1Pod {
  const { language, limits } = spec;
  const definition = RUNTIME_DEFINITIONS[language];
  const scriptPath = `${SCRIPT_DIR}/${RUNTIMES[language].fileName}`;
  const args = definition.args.map((a) => a.replaceAll('{script}', scriptPath).replaceAll('{memoryMb}', String(Math.max(1, Math.floor(limits.memoryMb)))));
  const memory = `${Math.max(1, Math.ceil(limits.memoryMb))}Mi`;
  const scratch = `${settings.scratchMb}Mi`;
  const env = { HOME: '/box', TMPDIR: '/tmp', LANG: 'C.UTF-8', ...definition.env };
  const restricted = {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
    runAsNonRoot: true,
    runAsUser: settings.runAsUser,
    runAsGroup: settings.runAsUser,
    seccompProfile: { type: 'RuntimeDefault' },
  };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: metadata(spec, settings, { ...settings.podAnnotations }),
    spec: {
      restartPolicy: 'Never',
      activeDeadlineSeconds: Math.max(1, Math.ceil(limits.wallTimeMs / 1000)),
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      terminationGracePeriodSeconds: 0,
      ...(settings.runtimeClassName ? { runtimeClassName: settings.runtimeClassName } : {}),
      securityContext: { runAsNonRoot: true, runAsUser: settings.runAsUser, runAsGroup: settings.runAsUser, fsGroup: settings.runAsUser, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: CONTAINER_NAME,
          image: settings.images[language],
          // stdin from the ConfigMap; stderr to the termination log, so the pod log is stdout alone.
          command: ['/bin/sh', '-c', `exec "$@" <${SCRIPT_DIR}/${STDIN_KEY} 2>/dev/termination-log`, 'sh', INTERPRETERS[language], ...args],
          workingDir: '/box',
          env: Object.entries(env).map(([name, value]) => ({ name, value })),
          resources: {
            requests: { cpu: settings.cpuRequest, memory },
            limits: { cpu: settings.cpuLimit, memory, 'ephemeral-storage': `${2 * settings.scratchMb}Mi` },
          },
          securityContext: restricted,
          terminationMessagePath: '/dev/termination-log',
          terminationMessagePolicy: 'File',
          volumeMounts: [
            { name: 'script', mountPath: SCRIPT_DIR, readOnly: true },
            { name: 'box', mountPath: '/box' },
            { name: 'tmp', mountPath: '/tmp' },
          ],
        },
      ],
      volumes: [
        { name: 'script', configMap: { name: configMapName(spec.executionId), defaultMode: 0o444 } },
        { name: 'box', emptyDir: { sizeLimit: scratch } },
        { name: 'tmp', emptyDir: { sizeLimit: scratch } },
      ],
    },
  };
}
