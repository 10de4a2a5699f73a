import { temporal } from '../../stack/temporal';

const codecFlag = (env: Record<string, string | undefined>) => {
  const saved = { PORT: process.env.PORT, EO_UI_CODEC_ENDPOINT: process.env.EO_UI_CODEC_ENDPOINT };
  Object.assign(process.env, env);
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k];
  try {
    const { args } = temporal.serverCommand();
    return args[args.indexOf('--ui-codec-endpoint') + 1];
  } finally {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
  }
};

test("the local dev server's Web UI decodes payloads through the API's codec endpoint, on the API's PORT", () => {
  expect(codecFlag({ PORT: undefined, EO_UI_CODEC_ENDPOINT: undefined })).toBe('http://127.0.0.1:3000/codec');
  expect(codecFlag({ PORT: '4100', EO_UI_CODEC_ENDPOINT: undefined })).toBe('http://127.0.0.1:4100/codec');
  expect(codecFlag({ PORT: '4100', EO_UI_CODEC_ENDPOINT: 'https://codec.example/codec' })).toBe('https://codec.example/codec');
});
