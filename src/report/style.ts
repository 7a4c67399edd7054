/** The report page's stylesheet (inline: the page makes no requests). */
export const CSS = `
:root{--fg:#1d2330;--muted:#667085;--line:#e4e7ec;--bg:#f5f6f8;--card:#fff;--accent:#1f77b4;--good:#217a3c;--bad:#b42318}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.5 system-ui,-apple-system,"Segoe UI","DejaVu Sans",sans-serif}
main{max-width:1240px;margin:0 auto;padding:24px 28px 60px}
header h1{font-size:24px;margin:0 0 4px}
header .meta{color:var(--muted);font-size:13px;margin:0}
code,pre{font:12px/1.45 ui-monospace,"DejaVu Sans Mono",monospace}
nav{margin:14px 0 6px;font-size:13px}
nav a{margin-right:14px;color:var(--accent);text-decoration:none}
nav a.off{color:#98a2b3}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:16px 20px;margin:18px 0}
section>h2{font-size:18px;margin:0 0 10px;padding-bottom:6px;border-bottom:1px solid var(--line)}
h3{font-size:15px;margin:14px 0 6px}
h4{font-size:14px;margin:14px 0 6px}
.block+.block{border-top:1px dashed var(--line);margin-top:12px;padding-top:4px}
#summary{border-left:5px solid var(--accent)}
#summary ul{margin:0;padding-left:20px}
#summary li{margin:4px 0}
li.warn,.problems li{color:var(--bad)}
.na{color:var(--muted);font-style:italic;background:#f9fafb;border:1px dashed #d0d5dd;border-radius:6px;padding:6px 10px;margin:6px 0}
.na.small{padding:2px 8px}
.problems{font-size:13px;margin:6px 0}
.small,.from{color:var(--muted);font-size:12px;font-weight:400}
.verdict{padding:8px 12px;border-radius:6px;background:#f2f4f7;margin:6px 0 10px}
.verdict.yes{background:#ecfdf3}
.verdict.no{background:#fef3f2}
.note{font-style:italic}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:10px}
.charts.pair{grid-template-columns:repeat(auto-fill,minmax(420px,1fr));margin-top:10px}
.chart-box{margin:0;background:#fff;border:1px solid var(--line);border-radius:6px;padding:4px}
.chart-box figcaption{font-size:11px;color:var(--muted);padding:0 6px 2px}
svg.chart{width:100%;height:auto;display:block}
.tag{display:inline-block;font-size:11px;font-weight:700;border-radius:10px;padding:0 8px;margin-right:8px;vertical-align:1px}
.tag.yes{background:#d1fadf;color:#05603a}
.tag.no{background:#fee4e2;color:#912018}
.tag.unknown{background:#eaecf0;color:#344054}
table{border-collapse:collapse;font-size:13px}
table.results{width:100%}
table.results td:first-child{min-width:12em}
th,td{padding:5px 9px;border-bottom:1px solid var(--line);text-align:left}
th{background:#f9fafb;font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.top{font-weight:700}
tr.best td{background:#eff8ff}
.star{color:#f79009}
.matrices{display:flex;flex-wrap:wrap;gap:20px;margin-top:8px}
table.matrix td,table.matrix th{padding:3px 7px;font-size:12px}
table.matrix td.diag{color:var(--muted)}
caption{text-align:left;font-weight:600;padding:4px 0}
.heatmaps{display:flex;flex-wrap:wrap;gap:16px}
.heatmaps figure{margin:0}
.heatmaps img{max-width:100%;height:auto;border:1px solid var(--line)}
.fragment{margin:6px 0 14px}
.preds{display:grid;grid-template-columns:repeat(var(--cols,4),minmax(0,1fr));gap:10px;align-items:start}
@media (max-width:800px){.preds{grid-template-columns:repeat(2,minmax(0,1fr))}}
figure.pred{margin:0;border:1px solid var(--line);border-radius:6px;overflow:hidden;background:#fff}
figure.pred img{display:block;width:100%;height:auto;max-height:520px;object-fit:contain;background:#0b0d12}
figure.pred figcaption{padding:4px 8px;font-size:12px}
.score{color:var(--good);font-weight:600}
.kv{display:inline-block;background:#f2f4f7;border-radius:4px;padding:1px 7px;margin:2px 4px 2px 0;font-size:12px}
details summary{cursor:pointer;color:var(--accent)}
pre{background:#f9fafb;border:1px solid var(--line);border-radius:6px;padding:10px;overflow:auto;max-height:480px}
`;
