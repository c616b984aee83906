// The parts of ECharts the dashboard draws, and nothing else: line and bar
// charts in a grid, on a canvas. The page draws its own legend (buttons),
// tooltips (which the keyboard drives too) and titles, in HTML.
import { init, use } from 'echarts/core';
import { BarChart, LineChart } from 'echarts/charts';
import { GridSimpleComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';

use([LineChart, BarChart, GridSimpleComponent, CanvasRenderer]);

window.echarts = { init };
