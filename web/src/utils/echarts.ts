// Only the parts of ECharts the maps use: a geo component, boundary lines, point markers,
// tooltips, canvas. Imported only by the map component, which is itself loaded on demand.
import * as echarts from 'echarts/core'
import { CustomChart, LinesChart, ScatterChart } from 'echarts/charts'
import { GeoComponent, TooltipComponent } from 'echarts/components'
import { CanvasRenderer } from 'echarts/renderers'

echarts.use([LinesChart, ScatterChart, CustomChart, GeoComponent, TooltipComponent, CanvasRenderer])

export { echarts }
