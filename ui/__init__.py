"""What every page shares, one module a job: `pages` (the page list), `urls` (settings in the
URL), `models` (the model catalogue, picker, upload and download), `runs` (run slots, the run
store, this session's folder), `layout` (sections, charts, captions, errors, threads) and
`mnist` (the data, or a way to download it). Pages import the module they use."""
